"""The documents: a design-memo skeleton per service and an on-call handoff per team and shift (Markdown and
HTML from jinja2 templates shipped beside this package). Builders are pure: they render facts, findings and
paging answers, and never query a source."""
