"""Offline experiments on the pipeline's own functions: ``retraining`` replays a year through the
monitor's measure-and-decide code to compare retraining policies (``pipeline study``)."""
