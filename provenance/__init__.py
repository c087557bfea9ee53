"""What every side of gristmill records: YAML files with line numbers, run manifests, files written whole.

`curate`, `train` and `mixing` all import from here; this package imports none of them.
"""
