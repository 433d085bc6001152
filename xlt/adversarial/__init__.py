"""Adversarial training methods (FGM, PGD, FreeLB, SMART, R3F behind one interface) and the budget
convention of their sizes. Imports nothing above xlt.model."""
