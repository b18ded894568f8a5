"""Score a submission CSV against a solution CSV (image_id,label): accuracy, as Paddy Doctor is scored.

    python scripts/score.py submissions/demo.csv data/demo-digits-solution.csv
"""
import sys

import pandas as pd


def accuracy(submission, solution):
    "Share of solution rows whose label the submission matches."
    sub, sol = pd.read_csv(submission, dtype=str), pd.read_csv(solution, dtype=str)
    merged = sol.merge(sub, on=sol.columns[0], how="left", suffixes=("_true", "_pred"))
    return float((merged.iloc[:, 1] == merged.iloc[:, 2]).mean())


if __name__ == "__main__":
    sub, sol = sys.argv[1:3]
    print(f"accuracy {accuracy(sub, sol):.4f} of {sub} against {sol}")
