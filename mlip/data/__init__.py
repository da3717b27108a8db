"""Reading labelled data, splitting, statistics and batching."""
from mlip.data.batch import Batch, Graph, build_graphs, collate, iterate_batches
from mlip.data.frames import DataKeys, Frame, check_frame, frame_from_atoms, read_frames
from mlip.data.split import split_frames
from mlip.data.statistics import DatasetStatistics, compute_statistics

__all__ = ["Batch", "DataKeys", "DatasetStatistics", "Frame", "Graph", "build_graphs", "check_frame", "collate",
           "compute_statistics", "frame_from_atoms", "iterate_batches", "read_frames", "split_frames"]
