"""The ``mats-bench`` command line: options map onto the layers below; nothing here computes."""
