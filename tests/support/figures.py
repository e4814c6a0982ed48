"""Every figure builder, and arguments that draw each: the property and type tests run them all."""

from __future__ import annotations

import inspect

import numpy as np

from core import model_shape
from viz.figures import attention as attention_figures
from viz.figures import attention_math as attention_math_figures
from viz.figures import attribution as attribution_figures
from viz.figures import block as block_figures
from viz.figures import bpe as bpe_figures
from viz.figures import classroom as classroom_figures
from viz.figures import compare as compare_figures
from viz.figures import distribution as distribution_figures
from viz.figures import embeddings as embedding_figures
from viz.figures import head_scores as head_score_figures
from viz.figures import lens as lens_figures
from viz.figures import life as life_figures
from viz.figures import masks as mask_figures
from viz.figures import multi_head as multi_head_figures
from viz.figures import pipeline as pipeline_figures
from viz.figures import positions as position_figures
from viz.figures import prompting as prompting_figures
from viz.figures import training as training_figures


def figure_builders():
    """(name, function) of every `make_*_figure` in viz/figures/."""
    for module in (attention_figures, distribution_figures, pipeline_figures, position_figures, mask_figures,
                   embedding_figures, bpe_figures, attention_math_figures, multi_head_figures, attribution_figures,
                   block_figures, lens_figures, life_figures, training_figures,
                   compare_figures, classroom_figures, head_score_figures, prompting_figures):
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if name.startswith("make_") and name.endswith("_figure") and function.__module__ == module.__name__:
                yield name, function


def builder_arguments() -> dict[str, tuple[tuple, dict]]:
    """Small arguments for each builder (a new builder needs its entry here): (positional, keyword)."""
    rng = np.random.default_rng(0)
    weights = rng.random((4, 4)).astype(np.float32)
    mask = np.tril(np.ones((4, 4), dtype=bool))
    thumbs = rng.random((3, 4, 4)).astype(np.float32)
    layout = attention_figures.mosaic_layout(thumbs, 3)
    labels = ["a", "b", "c", "d"]
    return {
        "make_attention_heatmap_figure": ((weights, mask, labels, labels), {}),
        "make_attention_image_figure": ((weights, mask, labels, labels), {"title": "t"}),
        "make_attention_lines_figure": ((weights, mask, labels, labels), {"query": 1}),
        "make_attention_row_figure": ((weights[2], mask[2], labels), {}),
        "make_attention_mosaic_figure": ((thumbs, layout), {"tile_names": ["x", "y", "z"], "row_labels": ["r"],
                                                            "col_labels": ["1", "2", "3"], "current": 1}),
        "make_distribution_figure": ((labels, np.full(4, 0.25), rng.normal(size=4)),
                                     {"kept": np.array([True, True, False, True])}),
        "make_token_loss_figure": ((labels, rng.random(4)), {}),
        "make_pipeline_figure": ((model_shape("classic")[0],), {}),
        "make_position_table_figure": ((rng.normal(size=(6, 4)),), {}),
        "make_sinusoid_waves_figure": ((rng.normal(size=(6, 4)), [0, 3], np.arange(1.0, 5.0)), {}),
        "make_position_similarity_figure": ((weights,), {"measure": "cosine"}),
        "make_offset_curves_figure": ((np.arange(4), weights[:2], ["p = 0", "p = 1"]),
                                      {"points": np.array([[1.0, 0.5]]), "point_labels": ["a"]}),
        "make_rope_rotation_figure": ((rng.normal(size=(2, 5, 2)), ["pair 0", "pair 3"]),
                                      {"key_paths": rng.normal(size=(2, 5, 2))}),
        "make_mask_figure": ((mask, labels, labels), {"padding_keys": np.array([False, False, False, True])}),
        "make_masking_ways_figure": ((weights, weights, mask, weights[:, 0], labels, labels), {}),
        "make_embedding_heatmap_figure": ((weights, labels), {}),
        "make_similarity_figure": ((np.corrcoef(weights), labels), {}),
        "make_projection_figure": ((weights[:, :3], labels), {"groups": ["x", "x", "y", "y"],
                                                              "highlight": [True, False, False, False],
                                                              "explained": [0.5, 0.3, 0.1]}),
        "make_layer_cosine_figure": ((weights[:2], ["p", "q"]), {"layer": 1}),
        "make_merge_curve_figure": ((np.array([9, 7, 5]), np.array([90, 60, 50])), {"step": 1}),
        "make_step_matrix_figure": ((np.where(mask, weights, -np.inf), labels, labels), {"highlight_row": 2}),
        "make_value_mix_figure": ((weights[2], weights, labels), {"allowed": mask[2]}),
        "make_scaling_figure": ((np.array([100.0, 80, 20, 12]), weights[0], weights[:2], [4, 16]),
                                {"claim": np.array([0.4, 0.2, 0.2, 0.1])}),
        "make_head_sharing_figure": ((9, 3, 64), {"off": [1, 4]}),
        "make_ablation_distribution_figure": ((labels, weights[0], weights[1]), {}),
        "make_ablation_attention_figure": ((weights, weights[::-1].copy(), labels), {}),
        "make_attribution_figure": ((labels, weights[3], np.array([0.1, -0.5, np.nan, np.nan]), 2), {}),
        "make_residual_norm_figure": ((weights, labels), {}),
        "make_sublayer_figure": ((weights[0, :3], weights[1, :3], weights[2]), {"cross": weights[3, :3]}),
        "make_norm_histogram_figure": ((weights[0], ["a", "b"], weights[1:3]), {}),
        "make_activation_figure": ((weights[0], np.array([1, 3])), {"pre": weights[1]}),
        "make_sparsity_figure": ((["x", "y"], weights[0, :2], weights[1, :2]), {}),
        "make_lens_grid_figure": ((np.array([labels] * 4, dtype=object), weights, labels, np.array([0, 1, 3, 2])),
                                  {"chosen": 2}),
        "make_candidate_lines_figure": ((weights, labels), {}),
        "make_logit_attribution_figure": ((weights, weights[0], weights[1]), {}),
        "make_life_figure": ((rng.random((3, 5, 6)) < 0.5,), {"first_generation": 4, "frame_ms": 100}),
        "make_loss_figure": ((np.arange(1, 5), weights[0], weights[1], 10), {"marks": np.array([2, 4])}),
        "make_attention_difference_figure": ((np.where(mask, weights - weights.T, np.nan), labels, labels),
                                             {"highlight_row": 2}),
        "make_row_shift_figure": ((labels, weights[0], weights[1]), {"subtitle": "s"}),
        "make_distribution_shift_figure": ((labels, weights[0], weights[1]), {}),
        "make_lens_pair_figure": ((weights[0], weights[1], labels, labels), {}),
        "make_head_score_grid_figure": ((weights,), {"current": (1, 2), "title": "t"}),
        "make_pass_loss_figure": ((weights[0], weights[1]), {"first_ablated": weights[2], "second_ablated": weights[3],
                                                             "heads_off": 2}),
        "make_induction_stripe_figure": ((weights[:2], ["x", "y"], labels), {}),
        "make_word_use_figure": ((labels, weights[0], weights[1], weights[2]), {"heads_off": 2}),
        "make_guesses_figure": ((labels, np.array([3, 0, 1, 2])), {"answer": 2, "shares": weights[0]}),
        "make_choice_figure": ((["好", "差"], np.array([0.7, 0.3]), 0), {"before": np.array([0.4, 0.6]),
                                                                         "before_name": "k = 0"}),
        "make_shot_accuracy_figure": (([0, 1, 2, 4, 8], {"bare": weights[0].tolist() + [0.5]}, 0.5), {}),
    }
