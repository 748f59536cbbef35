"""The stages of a network are the spec's concept (`archkit.spec.stages`); named here too for the
search's and the supernet's modules that import them from the search."""

from ..spec.stages import MODULE_KINDS, Stage, layer_kind, stage_runs, stages_of

__all__ = ["MODULE_KINDS", "Stage", "layer_kind", "stage_runs", "stages_of"]
