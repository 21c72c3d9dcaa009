# Responsibility lists, inspections, rubrics and scores will live here (see the open issues).
