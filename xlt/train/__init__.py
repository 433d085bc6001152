"""The training loop, length-grouped batching and resumable state. Imports the model and adversarial layers."""
