"""The lab's run: profiles, the students, the stages of `labkit run`, its table and what it cost."""
