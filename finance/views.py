"""Views: validate input, make one service call, render."""
