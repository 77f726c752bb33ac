"""The papers and the watched question that tests/test_watch.py and tests/test_after_commit.py share:
two unrelated papers, then a sourdough paper that turns the question from none to answered."""

BASE = [
    {
        "title": "Sparse Mixture-of-Experts Routing for Efficient Language Model Inference",
        "abstract": "Sparse mixture-of-experts layers activate only a few expert networks per token. "
        "We propose a load-balanced top-2 router that keeps every expert busy and cuts inference latency.",
        "arxiv_id": "2409.00001",
    },
    {
        "title": "Contrastive Pretraining of Protein Structure Encoders",
        "abstract": "We pretrain a geometric graph encoder of protein structures with a contrastive objective; "
        "it improves enzyme function prediction and fold classification.",
        "arxiv_id": "2409.00002",
    },
]
SOURDOUGH = {
    "title": "Fermentation Kinetics of Sourdough Bread",
    "abstract": "Wild yeast and lactic acid bacteria ferment sourdough. We model how dough rise and acidity "
    "depend on fermentation temperature and hydration, and find that warmer dough ferments twice as fast.",
    "arxiv_id": "2409.00003",
}
QUESTION = "How does temperature affect sourdough fermentation?"
