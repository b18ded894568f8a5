"""Tools for trying paddy without Kaggle: a local Kaggle API server (`python -m paddy.testing.kaggle_emulator`)."""
