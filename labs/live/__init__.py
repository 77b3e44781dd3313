"""What a lab page shows live: the WebSocket consumer, the page's fragments, the LiveOps panel
and its presenters, the panel's object actions, and the lab's subscription to the cluster watcher."""
