"""Builders of the built-in tasks: trusted side only.

A builder turns vendored or packaged source data into labelled examples, already split. Everything random in
a build (which split a group lands in, pairing, ordering, sampling, generation) is drawn from
:func:`aar.secret_keys.keyed_rng` under the installation's ``task`` key, never from a constant or a hash of
public text, so nothing about a label can be recomputed from public inputs and our source. This package and the
vendored data are masked inside every sandbox (:mod:`aar.sandbox.policy`).
"""
