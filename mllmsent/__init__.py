"""Sentiment analysis with multimodal LLMs: MLLMsent, LLaVAC and EmoLLMs as a documented, tested library"""

__version__ = "0.1.0"
