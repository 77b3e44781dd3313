"""The student's and instructor's pages of a lab: catalogue, session page, editor actions,
DNS form and the live panel's object actions. Thin: the work is in lifecycle, revisions and checks."""
