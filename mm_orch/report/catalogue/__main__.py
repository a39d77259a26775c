"""python -m mm_orch.report.catalogue: print the catalogue as the Markdown table docs/report.md carries."""

from mm_orch.report.catalogue import markdown_table

print(markdown_table())  # noqa: T201
