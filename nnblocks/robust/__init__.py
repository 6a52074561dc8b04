"""Data-driven robust optimization with uncertainty sets learned by neural networks (Goerigk & Kurtz)."""

from nnblocks.robust.base import UncertaintySet, WorstCase, WorstCaseStatus

__all__ = ["UncertaintySet", "WorstCase", "WorstCaseStatus"]

# Each module below adds its public names here (one import line per module).
from nnblocks.robust.network_set import NetworkUncertaintySet, PatternSet  # noqa: E402

__all__ += ["NetworkUncertaintySet", "PatternSet"]
from nnblocks.robust.baselines import DiscreteUncertaintySet, KernelFit, KernelUncertaintySet  # noqa: E402
from nnblocks.robust.evaluation import OutOfSample, out_of_sample  # noqa: E402
from nnblocks.robust.problems import (  # noqa: E402
    RobustSolution,
    RobustStatus,
    path_arcs,
    robust_feas,
    robust_obj,
    robust_shortest_path,
)
from nnblocks.robust.scenario import IterationRecord, ScenarioGeneration, ScenarioResult, Termination  # noqa: E402

__all__ += ["DiscreteUncertaintySet", "KernelFit", "KernelUncertaintySet", "OutOfSample", "out_of_sample",
            "RobustSolution", "RobustStatus", "path_arcs", "robust_feas", "robust_obj", "robust_shortest_path",
            "IterationRecord", "ScenarioGeneration", "ScenarioResult", "Termination"]
