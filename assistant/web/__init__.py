"""The web chat: a Gradio app over the ``Assistant``, its HTML, and managing articles from it."""
