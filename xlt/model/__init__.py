"""Featurisation, heads and metrics per format (formats/), the Bloom body with its task heads, fused ALiBi
attention, compiled length buckets. Imports xlt.data and xlt.io only."""
