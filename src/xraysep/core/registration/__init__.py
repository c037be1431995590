"""Registration of the photographs to the X-ray (docs/registration.md).

Pure computation: the mapping between pixel frames, its estimate by mutual
information or from control points, and the resampling of a photograph into the X-ray's
pixel grid. ``jobs/register.py`` runs it at ingest.
"""
