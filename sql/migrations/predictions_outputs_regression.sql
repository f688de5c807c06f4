-- A regression's output column in its predictions table: the predicted value, in the label's units.
prediction          double precision NOT NULL
