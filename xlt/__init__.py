"""xlt: does English intermediate-task training (standard or adversarial) improve zero-shot
cross-lingual transfer of Bloom models? All workflow logic lives here; rules/ only wires it."""
