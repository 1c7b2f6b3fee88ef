"""Datasets: readers of the official layouts (CUB-200-2011, ILSVRC, PASCAL VOC2012, unlabeled folders), the one
record type they return, image decoding and the train / test views, box-aware crops, the VOC conventions, and the
generator of the embedded demo dataset."""
