"""seqlab: sequence-classification experiments with PyTensor, Hydra and MLflow."""
