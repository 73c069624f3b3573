"""Learning many documents over time: strategies, forgetting, retrieval, updates."""
