"""paddy: a fastai + timm pipeline from Kaggle image-competition data to a scored submission."""
__version__ = "0.1.0"
