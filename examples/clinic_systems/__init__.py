"""An example clinic-system integration (EMR, website, CRM) to copy: see README.md."""
