"""Repository tooling, not imported by the tutorials: executing the tutorials
(:mod:`~im2im_helpers.dev.tutorials`, ``make tutorials``), building the book
(:mod:`~im2im_helpers.dev.book`) and the notebook hygiene rules
(:mod:`~im2im_helpers.dev.notebook_checks`)."""
