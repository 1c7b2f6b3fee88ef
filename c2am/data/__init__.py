"""Dataset readers (CUB-200-2011, ILSVRC, PASCAL VOC2012, unlabeled folders) and the embedded demo dataset."""
