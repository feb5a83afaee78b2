"""The words the pages use for scores, said once in plain language (tooltips and column help), so no page explains a
score with the score's own name."""

from __future__ import annotations

ACCURACY_HELP = "Share of the test examples the model labels correctly."
PRECISION_HELP = ("Of the examples the model put in this class, the share that really belong to it "
                  "(low: it says this class too often).")
RECALL_HELP = ("Of the examples that really belong to this class, the share the model found "
               "(low: it misses this class).")
F1_HELP = ("One score per class that is high only when both of the above are: their harmonic mean, "
           "between 0% and 100%.")
SUPPORT_HELP = "How many test examples belong to this class: scores over a handful of examples move a lot by chance."
MACRO_F1_HELP = ("For each class, a score that is high only when the model both finds that class's examples and "
                 "rarely puts other examples in it; then the average over the classes, each counting equally, so "
                 "rare classes count as much as common ones.")
