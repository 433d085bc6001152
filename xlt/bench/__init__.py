"""Benchmarks that print numbers: training throughput, adversarial perturbation sizes and effects, the GPU check."""
