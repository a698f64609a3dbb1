"""The BibTeX entries the project's cards and metric modules cite, each written once."""

INSTRUCTMOL_CITATION = """@inproceedings{cao2025instructmol,
  title     = {InstructMol: Multi-Modal Integration for Building a Versatile and Reliable Molecular Assistant in Drug Discovery},
  author    = {Cao, He and Liu, Zijing and Lu, Xingyu and Yao, Yuan and Li, Yu},
  booktitle = {Proceedings of the 31st International Conference on Computational Linguistics (COLING 2025)},
  year      = {2025}
}"""

MOLT5_CITATION = """@inproceedings{edwards2022molt5,
  title     = {Translation between Molecules and Natural Language},
  author    = {Edwards, Carl and Lai, Tuan and Ros, Kevin and Honke, Garrett and Cho, Kyunghyun and Ji, Heng},
  booktitle = {Proceedings of EMNLP 2022},
  year      = {2022}
}"""

TEXT2MOL_CITATION = """@inproceedings{edwards2021text2mol,
  title     = {Text2Mol: Cross-Modal Molecule Retrieval with Natural Language Queries},
  author    = {Edwards, Carl and Zhai, ChengXiang and Ji, Heng},
  booktitle = {Proceedings of EMNLP 2021},
  year      = {2021}
}"""
