"""Bulk export for research: documents as datasets, captures as WARC/WACZ, both as a bundle.

``DocumentSource`` selects documents (query, collection or everything) in a stable
order; a format's ``Writer`` turns batches into bytes; ``run_export`` writes a
file (resumable, with its datasheet) and ``stream_export`` streams one-part
formats over HTTP.
"""
