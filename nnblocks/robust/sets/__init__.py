"""Uncertainty sets U: each answers the adversarial problem max_{c in U} c'x (``worst_case``) and may add its
robust counterpart to a model. A new set is a new file here satisfying robust.base.UncertaintySet plus one export."""
