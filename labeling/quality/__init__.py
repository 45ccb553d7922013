"""Label-quality algorithms: agreement, Dawid-Skene, CrowdBT, spam signals, honeypots.

Everything in this package is plain Python + numpy/scipy: no Django models, no database,
so it can be used by the management command, the services and the benchmarks alike.
"""
