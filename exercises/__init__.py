"""Classroom exercises: sources (with solutions and tests) in src/, generated student and autograder
versions, graders, and the instructor's tools (build, grade, check). See README.md."""
