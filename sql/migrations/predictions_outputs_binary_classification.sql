-- A classifier's output columns in its predictions table: the probability of class 1 (as `prediction`
-- and `score`) and the label at model.decision_threshold.
prediction          double precision NOT NULL,
    score               double precision NOT NULL CHECK (score BETWEEN 0 AND 1),
    predicted_label     smallint         NOT NULL
