"""The Gradio app: a teacher and its distilled student side by side, served to a room."""
