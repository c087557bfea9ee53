"""The engine: step protocol and registry, pipeline config and plan, readers, writers, executors."""
