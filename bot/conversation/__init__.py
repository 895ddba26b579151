"""The pipeline in: inbound routing, learner and coach commands, answers, reflections."""
