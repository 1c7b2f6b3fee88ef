"""Dataset readers (CUB-200-2011, ILSVRC, PASCAL VOC2012, unlabeled folders) and the embedded demo dataset."""

from .readers import (VOC_CLASSES, image_size, load_dataset, parse_voc_xml, read_cub, read_folder, read_imagenet,
                      read_voc, voc_labels_from_mask)
from .records import Box, ImageRecord
from .synthetic import generate_demo

__all__ = ["Box", "ImageRecord", "VOC_CLASSES", "generate_demo", "image_size", "load_dataset", "parse_voc_xml",
           "read_cub", "read_folder", "read_imagenet", "read_voc", "voc_labels_from_mask"]
