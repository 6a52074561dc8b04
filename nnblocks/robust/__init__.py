"""Data-driven robust optimization with uncertainty sets learned by neural networks (Goerigk & Kurtz)."""

from nnblocks.robust.base import UncertaintySet, WorstCase, WorstCaseStatus

__all__ = ["UncertaintySet", "WorstCase", "WorstCaseStatus"]

# Each module below adds its public names here (one import line per module; a set of sets/ is one line).
from nnblocks.robust.sets.discrete import DiscreteUncertaintySet  # noqa: E402
from nnblocks.robust.sets.kernel import KernelFit, KernelUncertaintySet  # noqa: E402
from nnblocks.robust.sets.network import NetworkUncertaintySet  # noqa: E402
from nnblocks.robust.sets.patterns import PatternSet  # noqa: E402

__all__ += ["DiscreteUncertaintySet", "KernelFit", "KernelUncertaintySet", "NetworkUncertaintySet", "PatternSet"]
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

__all__ += ["OutOfSample", "out_of_sample", "RobustSolution", "RobustStatus", "path_arcs", "robust_feas",
            "robust_obj", "robust_shortest_path", "IterationRecord", "ScenarioGeneration", "ScenarioResult",
            "Termination"]
