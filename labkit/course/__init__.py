"""The course around the lesson: dashboards, exercises, readings of a run, the badges and the book."""
