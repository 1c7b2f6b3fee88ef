"""Pipeline stages: each is a plain CLI (`python -m stages.<name> --help`) around a `run(args)` function."""
