"""
Order Processing with Parallel Validation
"""

import asyncio
import time
from pathlib import Path

from ruvon.builder import WorkflowBuilder
from ruvon.implementations.persistence.memory import InMemoryPersistenceProvider
from ruvon.implementations.execution.thread_pool import ThreadPoolExecutionProvider
from ruvon.implementations.observability.logging import LoggingObserver
from ruvon.implementations.expression_evaluator.simple import SimpleExpressionEvaluator
from ruvon.implementations.templating.jinja2 import Jinja2TemplateEngine


async def main():
    print("="*70)
    print("  RUVON PARALLEL EXECUTION DEMO")
    print("="*70)

    # Create workflow builder with thread pool executor
    print("\n⚙️  Initializing with ThreadPoolExecutor (parallel execution)...")
    persistence = InMemoryPersistenceProvider()
    builder = WorkflowBuilder(
        expression_evaluator_cls=SimpleExpressionEvaluator,
        template_engine_cls=Jinja2TemplateEngine,
    )
    print("✓ Workflow loaded\n")

    # Create order
    print("="*70)
    print("  PROCESSING ORDER")
    print("="*70)

    initial_data = {
        "order_id": "ORD-12345",
        "customer_id": "CUST-999",
        "items": [
            {"sku": "WIDGET-001", "quantity": 2, "price": 29.99},
            {"sku": "GADGET-042", "quantity": 1, "price": 149.99},
        ],
        "total_amount": 209.97
    }

    workflow = await builder.create_workflow(
        workflow_type="OrderProcessing",
        persistence_provider=persistence,
        execution_provider=ThreadPoolExecutionProvider(max_workers=5),
        workflow_observer=LoggingObserver(),
        workflow_builder=builder,
        expression_evaluator_cls=SimpleExpressionEvaluator,
        template_engine_cls=Jinja2TemplateEngine,
        initial_data=initial_data,
    )

    # Measure execution time
    start_time = time.time()

    # Execute workflow
    while workflow.status == "ACTIVE":
        result = await workflow.next_step()

        if workflow.status == "COMPLETED":
            break

    elapsed_time = time.time() - start_time

    # Show results
    print("\n" + "="*70)
    print("  WORKFLOW COMPLETED")
    print("="*70 + "\n")

    print(f"Order ID: {workflow.state.order_id}")
    print(f"Total Amount: ${workflow.state.total_amount:.2f}")
    print(f"\nValidation Results:")
    print(f"  Inventory: {'✓' if workflow.state.inventory_valid else '✗'}")
    print(f"  Payment: {'✓' if workflow.state.payment_valid else '✗'}")
    print(f"  Fraud Check: {'✓' if workflow.state.fraud_check_passed else '✗'}")
    print(f"\nReady to Ship: {'Yes' if workflow.state.ready_to_ship else 'No'}")

    if workflow.state.ready_to_ship:
        print(f"Shipping Cost: ${workflow.state.shipping_cost:.2f}")
        print(f"Estimated Delivery: {workflow.state.estimated_delivery}")

    print(f"\n⏱️  Execution Time: {elapsed_time:.2f} seconds")
    print(f"   (Sequential would take ~4.5 seconds)")
    print(f"   Speedup: {4.5/elapsed_time:.1f}x faster!")


if __name__ == '__main__':
    asyncio.run(main())
