"""Sentiment analysis with multimodal LLMs: MLLMsent, LLaVAC and EmoLLMs as a documented, tested library

Modules:

- `mllmsent.evaluate`: Metrics for classification, regression and multi-label tasks; fold summaries with confidence intervals; paired tests between two systems; figures.
- `mllmsent.experiments`: Run parameterized experiment notebooks with papermill, write and collect their results, and render tables of reproduced against reported numbers."""

__version__ = "0.1.0"
