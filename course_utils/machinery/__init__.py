"""The course's machinery, apart from the teaching library: claims and their judging
(``claims``, ``machine``), the runner and its report (``runner``, ``report``), the notebook
catalog, template and sync (``notebooks``, ``links``), the student edition (``student``) and the
command line (``cli``). Learners import none of it directly; ``course_utils.claim`` and friends
are re-exported at the top level.
"""
