"""Provider interfaces: persistence, execution, observer, expression evaluator, template engine."""
